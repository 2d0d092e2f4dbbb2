"""English dates without the month/day ambiguity of "12/5/2026": "5 Dec 2026, 14:21"
(the month as a word, a 24-hour clock, as in British and international usage) (C16)."""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
