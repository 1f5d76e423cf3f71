"""The service proxy: forwards a Service's clusterIP:port and nodePort to ready endpoints."""
