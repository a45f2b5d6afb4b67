"""What ops run and watch: health checks, metrics, deployment files, the Ops page's reads."""
