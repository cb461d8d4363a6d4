-- Dot commands that need no API.
.tables
.schema usage
.schema nope
