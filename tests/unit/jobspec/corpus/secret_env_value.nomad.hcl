job "x" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      env {
        DB_PASSWORD = ["s3cr3t-env-value"]
      }
    }
  }
}
