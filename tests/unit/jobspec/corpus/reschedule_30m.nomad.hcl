job "x" {
  reschedule {
    attempts = 30000000
    interval = "1h"
    delay = "5s"
    delay_function = "constant"
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
