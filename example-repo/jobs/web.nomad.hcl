# A service job: a small HTTP server that needs nothing but Python on the machine.
# gitorch keeps `count` copies running and restarts them when they exit.
job "web" {
  datacenters = ["*"]
  type        = "service"

  group "site" {
    count = 1

    restart {
      attempts = 3
      interval = "5m"
      delay    = "2s"
      mode     = "delay"
    }

    task "server" {
      driver = "raw_exec"

      config {
        command = "python3"
        args    = ["-m", "http.server", "8080", "--bind", "127.0.0.1", "--directory", "local"]
      }

      # Nomad's template block: `{{ }}` is consul-template syntax, rendered on the client.
      template {
        data        = "<h1>Hello from {{ env \"NOMAD_ALLOC_NAME\" }}</h1>\n"
        destination = "local/index.html"
      }

      env {
        GREETING = "served by ${NOMAD_TASK_NAME}"
      }

      resources {
        cpu    = 100
        memory = 64
      }

      kill_timeout = "5s"
    }
  }
}
