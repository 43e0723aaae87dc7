package shell

// DrainIdle and DrainMax expose the drain bounds to the black-box tests.
const DrainIdle = drainIdle
const DrainMax = drainMax
