// The Chromium both browser tests launch, and its flags: headless, no
// network of its own, WebGPU on SwiftShader when asked (shared/WEBGPU.md).

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const BASE_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan'];
