"""The dashboards server: Voilà with login, its kernels and their websocket, the web routes."""
