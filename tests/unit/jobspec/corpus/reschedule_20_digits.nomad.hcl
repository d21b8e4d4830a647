job "x" {
  reschedule {
    attempts = 99999999999999999999
    interval = "1h"
    unlimited = false
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
