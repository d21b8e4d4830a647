job "x" {
  meta {
    a = "abc
  }
}
