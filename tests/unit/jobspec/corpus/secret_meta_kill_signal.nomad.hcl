job "x" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      kill_signal = "tok-9f8e7d6c5b4a"
      config {
        command = "/bin/true"
      }
      meta {
        api_token = "tok-9f8e7d6c5b4a"
      }
    }
  }
}
