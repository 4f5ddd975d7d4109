console.log(`rule=package.json node=${process.version} arch=${process.arch}`);
