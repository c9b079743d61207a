"""Spanish date formats the pages use (Django's own for the rest)."""

DATE_FORMAT = r"j \d\e F \d\e Y"
MONTH_DAY_FORMAT = "j M"
SHORT_DATETIME_FORMAT = "j M, H:i"
DATETIME_FORMAT = r"j \d\e F \d\e Y, H:i"
