// placeholder until tls lands
