"""`exchange deploy` and `exchange destroy`: the stacks of iac/README.md, in order,
through CloudFormation change sets, then the matching cluster's manifests."""
