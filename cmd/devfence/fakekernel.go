//go:build devfence_fakekernel

package main

// A devfence for tests (the tests of this package build one): it honours
// $DEVFENCE_TEST_FAKE_KERNEL (useFakeKernel).
func init() { useFakeKernel() }
