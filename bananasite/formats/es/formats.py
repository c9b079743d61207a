"""Spanish date formats the pages use (Django's own for the rest)."""

DATE_FORMAT = r"j \d\e F \d\e Y"
MONTH_DAY_FORMAT = "j b"
SHORT_DATETIME_FORMAT = "j b, H:i"
DATETIME_FORMAT = r"j \d\e F \d\e Y, H:i"
