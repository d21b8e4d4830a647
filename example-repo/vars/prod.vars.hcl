# Values for production: point the agent at this file with
#   gitops { vars_files = ["vars/prod.vars.hcl"] }
environment   = "prod"
greeter_count = 3
greeting      = "good day"
interval_s    = 30
