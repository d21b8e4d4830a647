# A batch job: runs once to completion. A changed file gives it a new version,
# which runs again.
job "report" {
  type = "batch"

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "report" {
    task "uptime" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "echo \"report from $NOMAD_ALLOC_ID on $(hostname)\"; uptime"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
