job "x" {
  reschedule {
    attempts = 9000000000000000000
    interval = "87600h"
    delay = "1ns"
    delay_function = "fibonacci"
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
