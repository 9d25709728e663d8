import { runSessionContract } from './session.contract.js';
import { FakeSessionProvider } from './fake.js';

runSessionContract('FakeSessionProvider', () => {
  const provider = new FakeSessionProvider();
  return Promise.resolve({
    provider,
    cwd: '/tmp',
    exitProgram: (name: string) => {
      provider.exitProgram(name);
      return Promise.resolve();
    },
    cleanup: () => Promise.resolve(),
  });
});
