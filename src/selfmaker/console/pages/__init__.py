"""The console's pages, one module per service (each exports ``routes(console)``)."""
