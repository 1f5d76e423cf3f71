"""The live web dashboard served by the control plane under ``/dashboard/`` (see docs/observability.md)."""
