// placeholder until protocol lands
