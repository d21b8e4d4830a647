variable "db_password" {
  type = string
  sensitive = true
  default = "hunter2-sensitive-default"
}
job "x" {
  priority = var.db_password
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
