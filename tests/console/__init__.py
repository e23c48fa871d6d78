"""The ops console: its graph model and layout (in-process), and the console in headless Chromium."""
