"""The browser UI: base layout, sign-in pages, navigation by care role and the first pages."""
