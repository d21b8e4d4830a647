# Values for the dev environment: read by Jinja2 (.j2 files) and as HCL2 variables.
environment   = "dev"
greeter_count = 1
greeting      = "hello"
interval_s    = 5
