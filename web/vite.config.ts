// Builds the console into web/dist, which the broker serves from every ws:// and ws+ssl:// listener.
// Relative asset URLs (base './') let the console work behind a reverse proxy under any path.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  publicDir: 'public',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    // MQTT.js is most of the bundle; it is gzipped by the broker when served.
    chunkSizeWarningLimit: 700,
    sourcemap: false,
  },
});
