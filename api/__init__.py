"""The agency API: registered clients and their credentials (`clients`), grants to the column
and the row and the one function that resolves them (`grants`), the hash-chained audit log
(`audit`). Rules live in plain functions over the control database; routes and CLI commands
only call them."""
