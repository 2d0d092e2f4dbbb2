"""Entity and attribute definitions (the emulator's view of CRM metadata)."""
