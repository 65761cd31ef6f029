"""Console pages. Each view: check the role (decorator), parse a form, call one service,
render or redirect. Reads come from ficha.reports.services."""
