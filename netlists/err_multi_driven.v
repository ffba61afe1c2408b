// Error fixture: N[4] is driven by an assign and by a cell.
module err_multi_driven(A, B, O);
  input [1:0] A;
  input [1:0] B;
  output [1:0] O;
  wire [7:0] N;
  assign N[4] = A[0];
  AND2X1 n4(.A(A[1]), .B(B[0]), .Y(N[4]));
  assign O[0] = N[4];
  assign O[1] = B[1];
endmodule
