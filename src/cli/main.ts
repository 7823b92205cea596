#!/usr/bin/env node
// The `petrel` command.
console.log('petrel: the broker is not there yet; this checkout has the MQTT codec only.');
