job "x" {
  reschedule {
    interval = "99999999999999h"
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
