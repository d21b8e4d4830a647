job "x" {
  meta {
    a = "%{ if var.x }y%{ endif }"
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
