package main

// The commands run in-process honour $DEVFENCE_TEST_FAKE_KERNEL, as the
// devfence the tests build does (fakekernel.go).
func init() { useFakeKernel() }
