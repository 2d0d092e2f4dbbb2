"""German dates as a German reader writes them: "5. Dezember 2026, 14:21" (C16)."""

DATE_FORMAT = "j. F Y"
DATETIME_FORMAT = "j. F Y, H:i"
SHORT_DATETIME_FORMAT = "d.m.Y H:i"
