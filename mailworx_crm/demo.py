"""Fixed demo credentials, printed by `make demo`. Never used outside demo mode."""

DEMO_EMAIL = "admin@demo.example"
DEMO_PASSWORD = "mailworx-demo"
DEMO_TENANT_SLUG = "demo"
