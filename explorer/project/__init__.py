"""The project folder: manifest, table schemas and the selection of rows a view works on."""
