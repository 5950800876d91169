"""The CloudFormation template language: parsing, parameters, intrinsic functions, dependency graphs.

Pure domain code: nothing here touches the store, the network or a service provider.
"""
