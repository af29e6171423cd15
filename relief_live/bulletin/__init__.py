"""The leadership bulletin: a week's or a month's figures, against the period before, as PDF and XLSX."""
