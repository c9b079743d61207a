"""English date formats the pages use (Django's own for the rest): short month and day."""

DATE_FORMAT = "j F Y"
MONTH_DAY_FORMAT = "M j"
SHORT_DATETIME_FORMAT = "M j, H:i"
DATETIME_FORMAT = "j F Y, H:i"
