"""Live streams: per-person state and alerts, sessions fed frame by frame (WebSocket clients
or server-side readers of RTSP/RTMP/HLS/HTTP), and where their events go."""
