"""SQLite itself: error codes, the script splitter, the native statement loop."""
