"""Shared by the UI tests: a real dev agent on a real Git repository whose jobs carry
hostile names, meta and log lines, and a broken file."""

from __future__ import annotations

HOSTILE = "<script>window.pwned=1</script>"
HOSTILE_JOB = "<script>"  # a job ID may not hold "/", so no closing tag


def echo_job(job_id: str, line: str, meta: str = "plain") -> str:
    return f'''
job "{job_id}" {{
  meta {{
    owner = "{meta}"
  }}
  group "g" {{
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "echo '{line}'; exec sleep 300"]
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
      kill_timeout = "2s"
    }}
  }}
}}
'''


BROKEN = 'job "broken" {\n  group "g" {\n    count = "many"\n  }\n}\n'
