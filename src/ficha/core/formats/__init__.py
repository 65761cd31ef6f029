"""Django format modules (``FORMAT_MODULE_PATH``): dates follow the venue's date format."""
