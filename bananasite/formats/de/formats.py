"""German date formats the pages use (Django's own for the rest)."""

DATE_FORMAT = "j. F Y"
MONTH_DAY_FORMAT = "j. M"
SHORT_DATETIME_FORMAT = "j. M, H:i"
DATETIME_FORMAT = "j. F Y, H:i"
