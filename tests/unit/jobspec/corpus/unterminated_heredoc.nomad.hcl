job "x" {
  meta {
    a = <<EOF
abc
