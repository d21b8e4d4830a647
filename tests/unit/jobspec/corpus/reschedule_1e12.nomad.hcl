job "x" {
  reschedule {
    attempts = 1000000000000
    interval = "1h"
    delay = "5s"
    delay_function = "exponential"
    max_delay = "1m"
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
