#!/usr/bin/env node
// triton-vision-serve: placeholder until the server lands in this change.
console.error('triton-vision-serve: not built yet');
process.exit(1);
